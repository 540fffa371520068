"""The zoo: paper architectures as specs (`zoo:NAME`), each with `expect:` facts checked at every compile."""

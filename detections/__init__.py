"""The rule pack: one module per control of the AWS IAM hardening guide, each with a `DETECTION`."""

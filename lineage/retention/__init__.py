"""The retention engine: policy as data, retain_until for every stored copy, with the rule that
decided it, and `unknown` with the reason when an input that could change the answer is missing.
"""

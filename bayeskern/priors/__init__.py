"""bayeskern.priors"""

"""bayeskern.datasets"""

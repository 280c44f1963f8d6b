"""What the router remembers between requests: local pools and their queues, outlier records,
measured speed, providers' rate-limit state. Plain in-process state behind small classes.
"""

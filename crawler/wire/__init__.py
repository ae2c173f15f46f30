"""What passes between processes: messages, framing, transports, worker start-up and runtime.

Each process role speaks only through these: the scheduler, the downloaders and the parsers
never import one another.
"""

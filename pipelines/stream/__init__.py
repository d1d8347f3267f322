"""Real-time clickstream: local broker, event contract, simulator and the exactly-once lake writer."""

"""SQL reports over the marts: catalogue, parameters, targets, rendering, runner."""

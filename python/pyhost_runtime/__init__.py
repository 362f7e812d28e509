"""The Python side of pyhost: what the zygote imports and what each worker runs."""

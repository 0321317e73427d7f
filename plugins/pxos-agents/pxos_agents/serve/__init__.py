"""``pxos-kernel serve``: every installed inference engine behind the OpenAI HTTP API."""

"""The aiohttp signaling server: rooms, peers, the message protocol, REST control."""

"""The recording bot: WebRTC ingest, mixer sessions, clocks, audio, encoding, outputs."""

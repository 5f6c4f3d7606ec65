"""Pure drawing on I420 (yuv420p) planes: fitting, video tiles, pictures, the
whiteboard, text overlays."""

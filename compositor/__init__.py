"""Pure drawing on numpy BGR canvases: fitting, video tiles, text overlays."""

"""The Edit view's panels: source, mask painter, method form, results and timeline, and its worker."""

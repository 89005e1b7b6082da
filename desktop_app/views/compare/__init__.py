"""The Compare view's panels: controls, one column per kind of model, the GAN Lab picture, the measured table."""

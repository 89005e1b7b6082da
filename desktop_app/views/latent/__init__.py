"""The Latent diffusion view's panels: the autoencoder taken apart, and sampling in latent space."""

"""Audio building blocks: the frame format, G.711, resampling, tones, energy VAD and the stereo call recorder."""

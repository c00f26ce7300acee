"""Speech in plain text: synthesis (eSpeak NG) and the intents of short telephone answers."""

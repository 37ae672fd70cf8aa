"""Transcription, local with vosk: audio, the engine (the only vosk importer), the pipeline
of one recording, the job service, the feed from the call log, summaries and the CLI."""

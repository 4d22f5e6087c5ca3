"""Storage backends behind the ``ConversationStore`` port."""

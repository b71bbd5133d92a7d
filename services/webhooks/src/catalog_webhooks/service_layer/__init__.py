"""What an event and a due delivery lead to."""

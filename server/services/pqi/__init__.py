"""The pharmacy quality intervention as a program (issue 14): start-of-therapy checklist, schedule teach-back, quality report."""

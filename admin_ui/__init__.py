"""Web pages under /ui/ for employees, the AI committee and administrators."""

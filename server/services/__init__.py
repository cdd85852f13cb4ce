"""Services: the only code that writes rows. Each public function owns its transaction."""

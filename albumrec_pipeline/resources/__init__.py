"""Outside systems albumrec reads from, each a ConfigurableResource."""

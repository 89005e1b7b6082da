"""The parts of the main window: the view list, the loading page, Help texts and exporting."""

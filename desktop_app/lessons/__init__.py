"""Lessons: Markdown files in ``resources/lessons/`` whose numbers are bound to a view's live values.

Pure Python (importable without Qt): ``lesson_format`` (the parser and validator), ``formula`` (a
small LaTeX subset rendered as Qt rich text), ``vocabulary`` (what each view's lessons may bind to
and set) and ``guesses`` (the student's recorded predictions). The Qt part: ``panel`` (the dock
beside every view), ``question_widget`` (predict, then reveal), ``tour`` and ``install``
(``install_lessons(window)``, the one call the main window makes).
"""

"""moodpipe: the library under the pipeline's seven commands (reviews -> sentiment, Korean dialogue ->
emotions, lyrics -> song vectors -> recommendations). One job per module; the commands at the top level
(main.py, mobilebert_project.py, ...) call it, and so can your own code."""

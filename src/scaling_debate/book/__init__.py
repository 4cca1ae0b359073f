"""The book room: building the book, the command line, glue and prose, figures."""

def balanced(text):
    raise NotImplementedError

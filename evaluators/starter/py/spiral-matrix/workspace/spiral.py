def spiral(n):
    raise NotImplementedError

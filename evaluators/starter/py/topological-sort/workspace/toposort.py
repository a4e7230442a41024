def order(deps):
    raise NotImplementedError

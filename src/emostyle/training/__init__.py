"""Training and evaluation workbench (needs the ``train`` extra: torch, torchvision, scikit-learn).

Nothing on the inference path imports this package.
"""

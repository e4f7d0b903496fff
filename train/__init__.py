"""microbit_nn.train"""

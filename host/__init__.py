"""microbit_nn.host"""

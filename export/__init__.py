"""microbit_nn.export"""

"""Registers every mbnn subcommand (name, implementing module, help)."""

from microbit_nn.host.cli import register

register("train", "cmd_train", "train a model on DATA (CSV folder, CreateAI JSON, or 'synthetic')")
register("eval", "cmd_eval", "evaluate a trained model (float and int8) on DATA")

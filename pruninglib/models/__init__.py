"""Models: each registers itself, declares its prunable weights and its layer couplings."""
from pruninglib.models.base import MODELS, Coupling, Prunable, build_model, load_model, save_model
from pruninglib.models.cnn import CNN
from pruninglib.models.layers import FlattenLinear, FoldableConv2d
from pruninglib.models.lenet import LeNet5
from pruninglib.models.mlp import MLP
from pruninglib.models.unet import UNet
from pruninglib.models.vgg import VGG16

__all__ = ["MODELS", "Coupling", "Prunable", "build_model", "load_model", "save_model", "CNN", "FoldableConv2d", "MLP",
           "UNet", "VGG16", "FlattenLinear", "LeNet5"]

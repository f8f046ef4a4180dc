"""What ``--data-root`` must hold for each benchmark, in a module of its own:
``featadapt list`` and ``featadapt --help`` read these without importing
torch or Avalanche."""

__all__ = [
    "CIFAR100_LAYOUT",
    "IMAGEFOLDER_LAYOUT",
    "IMAGE_TREE_LAYOUT",
    "NPZ_LAYOUT",
    "TORCHVISION_LAYOUT",
]

NPZ_LAYOUT = (
    "an .npz file with arrays x (uint8, N x H x W or N x H x W x C, pixel values "
    "0..255) and y (integer class ids 0..K-1, N entries)"
)
TORCHVISION_LAYOUT = (
    "DATA_ROOT/{name}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte "
    "(torchvision's layout, the files un-gzipped)"
)
IMAGE_TREE_LAYOUT = (
    "DATA_ROOT/train/<class>/<image> and DATA_ROOT/test/<class>/<image> (or "
    "val/ in place of test/): the same class folders in both, PNG or JPEG "
    "images of one size"
)
CIFAR100_LAYOUT = (
    "DATA_ROOT/cifar-100-python/{train,test,meta} (the extracted python version "
    "of CIFAR-100)"
)
IMAGEFOLDER_LAYOUT = (
    "DATA_ROOT/train/<class>/*.JPEG and DATA_ROOT/val/<class>/*.JPEG "
    "(torchvision ImageFolder layout, the same class folders in both)"
)

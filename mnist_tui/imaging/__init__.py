"""Any image file -> the 28x28 input(s) MNIST would have made of it. numpy, Pillow, scikit-image."""

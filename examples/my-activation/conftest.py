# pytest puts this folder on sys.path, so the tests import smelu_act without installing it.

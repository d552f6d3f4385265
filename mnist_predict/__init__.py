"""mnist-predict: the user-facing app that reads handwritten digits with the pipeline's model.

From Python, ``mnist_pipeline.classifier.load_classifier`` loads the model and
``mnist_predict.prediction.predict_images`` reads digits in images of any size
or mode. The app imports only the model's side of the pipeline (the classifier,
the digits' shape, errors, atomic writes), never its training, evaluation or
report code; ``--grid`` alone loads matplotlib.
"""

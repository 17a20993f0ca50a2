# tensorserve as a drop-in for the tensorflow/serving image:
#   docker build -t tensorserve:0.1.0 .
#   docker run -p 8500:8500 -p 8501:8501 -v "$PWD/models/mnist:/models/mnist" \
#       -e MODEL_NAME=mnist tensorserve:0.1.0
# As in TensorFlow Serving's image, MODEL_NAME (default "model") and MODEL_BASE_PATH
# (default /models) name the model served from $MODEL_BASE_PATH/$MODEL_NAME unless
# --model_base_path or --model_config_file is given; extra flags follow the image name.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=1 \
    MODEL_NAME=model \
    MODEL_BASE_PATH=/models

RUN groupadd --gid 1000 tensorserve \
    && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin tensorserve \
    && mkdir -p /models /etc/tensorserve \
    && printf 'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n' \
        > /etc/tensorserve/monitoring.config

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[s3]" && rm -rf /build

WORKDIR /
USER 1000:1000
# gRPC, REST (TensorFlow Serving's ports)
EXPOSE 8500 8501
ENTRYPOINT ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501"]

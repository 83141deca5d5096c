"""The bundled trainer: continued pretraining of a LLaMA-architecture model on the pipeline's token shards.

``python -m train.run --config configs/train_tiny.yaml --data OUT --tokenizer TOK --output CKPT``.
"""

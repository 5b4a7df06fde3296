"""DCGAN (Radford et al. 2016) per class, seed 004's settings: 128x128 grayscale in [-1, 1], latent 100,
Adam 2e-4 with beta_1 0.5, batch 128. A keras.Model subclass overriding train_step, trained with fit."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

LATENT_DIM = 100


def _steps(image_size: int) -> int:
    """Number of stride-2 stages between 4x4 and image_size (a power of two >= 16)."""
    steps = (image_size // 4).bit_length() - 1
    if image_size < 16 or 4 * 2 ** steps != image_size:
        raise ValueError(f"image size must be a power of two >= 16, got {image_size}")
    return steps


def generator(image_size: int = 128, channels: int = 1, latent_dim: int = LATENT_DIM, width: int = 64) -> keras.Model:
    """Dense -> Reshape 4x4 -> strided Conv2DTranspose (BN, LeakyReLU) -> tanh, (N, S, S, C) in [-1, 1]."""
    steps = _steps(image_size)
    filters = width * 2 ** (steps - 1)
    model = keras.Sequential([keras.Input((latent_dim,)), layers.Dense(4 * 4 * filters, use_bias=False),
                              layers.BatchNormalization(), layers.LeakyReLU(0.2), layers.Reshape((4, 4, filters))],
                             name="generator")
    for _ in range(steps - 1):
        filters //= 2
        model.add(layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU(0.2))
    model.add(layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", dtype="float32"))
    return model


def discriminator(image_size: int = 128, channels: int = 1, width: int = 64, dropout: float = 0.3) -> keras.Model:
    """Strided Conv2D with LeakyReLU and dropout, flatten, one logit."""
    model = keras.Sequential([keras.Input((image_size, image_size, channels))], name="discriminator")
    filters = width
    for _ in range(_steps(image_size)):
        model.add(layers.Conv2D(filters, 4, strides=2, padding="same"))
        model.add(layers.LeakyReLU(0.2))
        model.add(layers.Dropout(dropout))
        filters = min(filters * 2, 512)
    model.add(layers.Flatten())
    model.add(layers.Dense(1, dtype="float32"))
    return model


class DCGAN(keras.Model):
    """fit(real images in [-1, 1]) trains both networks; logs d_loss and g_loss."""

    def __init__(self, discriminator: keras.Model, generator: keras.Model, latent_dim: int = LATENT_DIM,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Seed 004: Adam(2e-4, beta_1=0.5) for both; binary cross-entropy on logits. No model-level
        optimizer (Keras would add an unused RMSprop, which BackupAndRestore then fails to restore)."""
        super().compile(**{"optimizer": None, **kwargs})
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def build(self, input_shape=None):
        for optimizer, net in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            optimizer.build(net.trainable_variables)
        self.built = True

    def train_step(self, real_images):
        batch = tf.shape(real_images)[0]
        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(noise, training=True)
        images = tf.concat([fake, tf.cast(real_images, fake.dtype)], axis=0)
        labels = tf.concat([tf.zeros((batch, 1)), tf.ones((batch, 1))], axis=0)  # 1 = real
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fooled = self.discriminator(self.generator(noise, training=True), training=True)
            g_loss = self.loss_fn(tf.ones((batch, 1)), fooled)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def generate(self, n: int, seed: int = 0, batch_size: int = 256):
        """n images (n, S, S, C) float32 in [-1, 1] from seeded noise (inference mode)."""
        rng = keras.random.SeedGenerator(seed)
        out = [self.generator(keras.random.normal((min(batch_size, n - i), self.latent_dim), seed=rng), training=False)
               for i in range(0, n, batch_size)]
        return keras.ops.convert_to_numpy(keras.ops.concatenate(out, axis=0))

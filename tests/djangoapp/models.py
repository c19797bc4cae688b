from django.db import models


class Item(models.Model):
    """A row for the database tests to create and the views to list."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name

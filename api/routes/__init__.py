"""One ``APIRouter`` per concern; ``irqa.api.app.create_app`` includes them all."""

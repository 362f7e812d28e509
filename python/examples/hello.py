"""The smallest function: greet whoever the request names."""


def handle(request):
    name = request.get("name", "world") if isinstance(request, dict) else "world"
    return {"message": f"Hello {name}"}
